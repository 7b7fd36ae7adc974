"""Where the data comes from: fetching bytes safely (``fetch``), reading CSV text (``csv``) and
one parser per upstream file (NYT national, JHU, NYT per state). Nothing here knows the store."""
