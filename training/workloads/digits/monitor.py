"""Digits' record preprocessor for data-quality monitoring: pixel statistics, not pixels.

One feature per pixel (784 for MNIST) would bury a drift in noise and in violations; these
four say what changed in the pictures a client sends:
  mean_intensity   mean raw pixel value (a client sending 0..1 instead of 0..255 shows here)
  ink_fraction     share of pixels brighter than half the image's brightest (stroke thickness)
  centre_row, centre_col   the ink's centre of mass, 0 (top / left) .. 1 (bottom / right)
Computed in DuckDB over the `records` table (training/monitor/records.py): a JSON record's
"pixels" rows, or a CSV row of height*width values (a leading label dropped). Images must be
square (both sources are); another size, a blank or an unreadable record gives missing values.
The baseline job computes the same four over the train split (training/monitor/baseline.py
--workload).
"""

FEATURES = ("mean_intensity", "ink_fraction", "centre_row", "centre_col")


def pixel_statistics(con):
    """The four statistics of every record, as strings (the baseline reads text)."""
    square = "(floor(sqrt({n})) * floor(sqrt({n})) = {n})"
    return con.execute(f"""
        WITH raw AS (
            SELECT CASE WHEN rec IS NOT NULL
                        THEN flatten(TRY_CAST(json_extract(rec, '$.pixels') AS DOUBLE[][]))
                        ELSE TRY_CAST(row AS DOUBLE[]) END AS p
            FROM records),
        sized AS (
            SELECT CASE WHEN {square.format(n='len(p)')} THEN p
                        WHEN {square.format(n='(len(p) - 1)')} THEN p[2:] END AS p FROM raw),
        described AS (
            SELECT p, CAST(sqrt(len(p)) AS INTEGER) AS side, list_sum(p) AS total,
                   list_max(p) AS top FROM sized WHERE len(p) > 1)
        SELECT CAST(list_avg(p) AS VARCHAR) AS mean_intensity,
               CAST(list_avg(list_transform(p, lambda x: CAST(x > top / 2 AS DOUBLE)))
                    AS VARCHAR) AS ink_fraction,
               CAST(CASE WHEN total > 0 THEN list_sum(list_transform(
                    p, lambda x, i: x * ((i - 1) // side))) / total / (side - 1) END
                    AS VARCHAR) AS centre_row,
               CAST(CASE WHEN total > 0 THEN list_sum(list_transform(
                    p, lambda x, i: x * ((i - 1) % side))) / total / (side - 1) END
                    AS VARCHAR) AS centre_col
        FROM described
        UNION ALL
        SELECT NULL, NULL, NULL, NULL FROM sized WHERE p IS NULL OR len(p) <= 1""").df().astype(
        "string")
