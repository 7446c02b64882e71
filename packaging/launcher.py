"""The frozen application's entry point: ``portrait-editor`` opens the editor and
``portrait-editor complete ...`` runs the command line, as the pip-installed script does."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # torch's DataLoader workers, should anything start them
    from portrait_editor.__main__ import main

    sys.exit(main())
