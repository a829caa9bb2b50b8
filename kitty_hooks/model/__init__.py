"""What the data is: lanes, events and their ids, log lines, frontmatter, the repository layout. Pure: no IO."""
