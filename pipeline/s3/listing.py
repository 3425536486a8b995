"""ListObjects paging over sorted keys: prefix, delimiter (common prefixes), max-keys and a
resume point (V2's StartAfter / ContinuationToken, V1's Marker), as S3 pages them."""

import base64
from dataclasses import dataclass, field


@dataclass
class Page:
    keys: list[str] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    # The last key or common prefix of this page: where the next page starts after.
    last: str | None = None


def page(keys: list[str], prefix: str = "", delimiter: str = "", after: str = "",
         max_keys: int = 1000) -> Page:
    """One page of `keys` (sorted, all under `prefix`) after `after`; a common prefix counts as
    one entry toward max-keys, and resuming after one skips every key it groups."""
    result = Page()
    for key in keys:
        if after and (key.encode() <= after.encode() or
                      (delimiter and after.endswith(delimiter) and key.startswith(after))):
            continue
        rest = key[len(prefix):]
        entry = key
        if delimiter and delimiter in rest:
            entry = prefix + rest[:rest.index(delimiter) + len(delimiter)]
            if result.common_prefixes and result.common_prefixes[-1] == entry:
                continue
        if len(result.keys) + len(result.common_prefixes) >= max_keys:
            result.truncated = True
            break
        (result.common_prefixes if entry != key else result.keys).append(entry)
        result.last = entry
    return result


def token(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode()).decode()


def untoken(value: str) -> str:
    """The resume point in a ContinuationToken; a token this server did not give is refused."""
    try:
        return base64.urlsafe_b64decode(value.encode()).decode()
    except ValueError as error:
        raise ValueError(f"ContinuationToken {value!r} was not given by this server") from error
