"""python -m localtrack.cli: the same command as `localtrack`."""

from .main import main

main()
