"""covid-etl: daily ETL of US COVID-19 data (NYT cases/deaths + JHU recoveries)."""

__version__ = "0.5.0"
