"""ListObjects cases shared by the unit (listing.page) and contract (boto3 over HTTP) layers:
the keys in a bucket, the request, and every page's keys and common prefixes in order."""

KEYS = ["a.txt", "b/1.csv", "b/2.csv", "b/c/3.csv", "b-side.txt", "d/4.csv"]

LIST_CASES = [
    # (name, request, pages: [(keys, common prefixes), ...])
    ("everything in one page", {}, [(["a.txt", "b-side.txt", "b/1.csv", "b/2.csv",
                                      "b/c/3.csv", "d/4.csv"], [])]),
    ("two keys a page", {"MaxKeys": 2},
     [(["a.txt", "b-side.txt"], []), (["b/1.csv", "b/2.csv"], []), (["b/c/3.csv", "d/4.csv"], [])]),
    ("a prefix", {"Prefix": "b/"}, [(["b/1.csv", "b/2.csv", "b/c/3.csv"], [])]),
    ("a prefix that is not a folder", {"Prefix": "b"},
     [(["b-side.txt", "b/1.csv", "b/2.csv", "b/c/3.csv"], [])]),
    ("folders as common prefixes", {"Delimiter": "/"}, [(["a.txt", "b-side.txt"], ["b/", "d/"])]),
    ("a common prefix counts once toward MaxKeys", {"Delimiter": "/", "MaxKeys": 3},
     [(["a.txt", "b-side.txt"], ["b/"]), ([], ["d/"])]),
    ("inside a folder", {"Prefix": "b/", "Delimiter": "/"}, [(["b/1.csv", "b/2.csv"], ["b/c/"])]),
    ("start after a key", {"StartAfter": "b/1.csv"}, [(["b/2.csv", "b/c/3.csv", "d/4.csv"], [])]),
    ("nothing under a prefix", {"Prefix": "zzz"}, [([], [])]),
]
