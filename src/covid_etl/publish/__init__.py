"""What covid-etl hands out as files: exports of the stored series and the original system's
formats. Pure functions of the rows; writing them somewhere is the caller's act."""
