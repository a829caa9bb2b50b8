"""The one door to git: nothing else in kitty-hooks runs it.

`command` runs git and puts its failures in our words; `repo` answers questions about a
repository, `history` reads commits, `blobs` reads file contents at commits. Callers import the
module they need (`from kitty_hooks.gitrepo import repo`), so a hook loads only what it uses.
"""
