"""Run the original mmstats 0.8.0 reader (Python 2 code) under Python 3.

Usage: original_reader.py READER_PY MMSTATS_FILE

READER_PY is the unmodified ``mmstats/reader.py`` of the 0.8.0 sdist. It is
loaded by path, not through the package's ``__init__`` (which is Python 2
only), and given a file object whose ``read()`` returns bytes that also
compare equal to the latin-1 ``str`` of the same bytes, so its comparisons
with ``'\\x01'`` and ``'\\x00\\x00'`` work unchanged. Its own iteration runs
as written; only the last step that Python 2 applied to ``str`` values (cut
at the first NUL, decode as UTF-8 ignoring errors) is applied here to
``bytes`` values, because under Python 3 its ``isinstance(value, str)`` test
no longer matches them.

Prints a JSON list of {"label", "value"} objects, with "value_hex" (the
little-endian double, float32 values widened as struct does) for floats. An
error raised by the original reader is printed to stderr with exit status 3
(status 1, an uncaught exception, means the shim itself failed).
"""

import importlib.util
import json
import struct
import sys

# Leave the directory of READER_PY as it was: no __pycache__.
sys.dont_write_bytecode = True

READER_ERROR = 3

class Py2Bytes(bytes):
    """Bytes that also equal the latin-1 text of the same bytes, as Python 2
    ``str`` did."""

    def __eq__(self, other):
        if isinstance(other, str):
            return self.decode("latin-1") == other
        return bytes.__eq__(self, other)

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = bytes.__hash__


class Py2File:
    """A read-only file whose reads return ``Py2Bytes``."""

    def __init__(self, path):
        self._file = open(path, "rb")

    def read(self, n=-1):
        return Py2Bytes(self._file.read(n))

    def close(self):
        self._file.close()


def load_reader(path):
    spec = importlib.util.spec_from_file_location("mmstats_original_reader", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def as_json(value):
    if isinstance(value, bytes):
        # What the original does to Python 2 str values.
        return {"value": value.split(b"\x00", 1)[0].decode("utf8", "ignore")}
    if isinstance(value, float):
        return {"value": value, "value_hex": struct.pack("<d", value).hex()}
    return {"value": value}


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: original_reader.py READER_PY MMSTATS_FILE\n")
        return 2
    module = load_reader(argv[1])
    out = []
    try:
        for stat in module.MmStatsReader(Py2File(argv[2])):
            item = {"label": stat.label}
            item.update(as_json(stat.value))
            out.append(item)
    except Exception as e:  # the original reader's own failure
        sys.stderr.write("reader error: %s: %s\n" % (type(e).__name__, e))
        return READER_ERROR
    json.dump(out, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
