"""``python -m engagegen``: the same as the ``engagegen`` command."""

from engagegen.cli import main

main()
