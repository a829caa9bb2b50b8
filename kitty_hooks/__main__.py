import sys

from kitty_hooks.entry import main

sys.exit(main())
