"""The series covid-etl keeps: each series' rules (the national NYT⋈JHU join, the per-state
grouping and per-capita figures), the diff against what is stored, the derived columns the API
serves and the change log's entries. Pure: no I/O."""
