"""Running the ETL: the pipeline (the only module that orders the stages), the built-in
scheduler and the run summary other programs read."""
