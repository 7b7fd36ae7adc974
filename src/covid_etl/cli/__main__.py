"""``python -m covid_etl.cli``: the same command line as the ``covid-etl`` script."""

from covid_etl.cli import main

main()
