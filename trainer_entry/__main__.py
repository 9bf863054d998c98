import sys

from trainer_entry.main import main

sys.exit(main())
