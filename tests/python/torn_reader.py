"""Read one stats file again and again with the original mmstats 0.8.0
reader, through a memory map as its own tools do, and count the values of
some fields that the writer never wrote.

Usage: torn_reader.py READER_PY MMSTATS_FILE MIN_READS MAX_SECONDS STOP_AFTER_TORN LABEL=V1,V2[,...]...

Each LABEL=... names a field and every value its writer may publish. The
loop reads the whole file with ``MmStatsReader`` (the unmodified original
``__iter__``) until every named field was read at least MIN_READS times, or
MAX_SECONDS passed, or (if STOP_AFTER_TORN is not 0) that many torn values
were seen. A value of a named field that is not in its list is
torn. Prints one JSON object: reads, torn and changes seen, per label, the
first torn values, and the seconds taken.
"""

import importlib.util
import json
import mmap
import sys
import time

sys.dont_write_bytecode = True


class Py2Bytes(bytes):
    """Bytes that also equal the latin-1 text of the same bytes (see
    original_reader.py)."""

    def __eq__(self, other):
        if isinstance(other, str):
            return self.decode("latin-1") == other
        return bytes.__eq__(self, other)

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = bytes.__hash__


class MapView:
    """The original reader's data object: an ``mmap`` whose reads return
    ``Py2Bytes``; its ``read`` is ``mmap.read``, a ``memcpy`` out of the
    shared mapping. ``close`` (which the reader calls at the end) leaves the
    mapping open for the next round."""

    def __init__(self, mm):
        self.mm = mm

    def read(self, n=-1):
        return Py2Bytes(self.mm.read(n))

    def close(self):
        pass


def main(argv):
    if len(argv) < 7:
        sys.stderr.write(__doc__)
        return 2
    spec = importlib.util.spec_from_file_location("mmstats_original_reader", argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    min_reads = int(argv[3])
    max_seconds = float(argv[4])
    stop_after_torn = int(argv[5])
    allowed = {}
    for arg in argv[6:]:
        label, values = arg.split("=", 1)
        allowed[label] = set(int(v, 0) for v in values.split(","))
    reads = dict((label, 0) for label in allowed)
    torn = dict((label, 0) for label in allowed)
    changes = dict((label, 0) for label in allowed)
    last = dict((label, None) for label in allowed)
    examples = []
    with open(argv[2], "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    view = MapView(mm)
    started = time.monotonic()
    rounds = 0
    while min(reads.values()) < min_reads:
        rounds += 1
        if rounds % 4096 == 0 and time.monotonic() - started > max_seconds:
            break
        if stop_after_torn and sum(torn.values()) >= stop_after_torn:
            break
        mm.seek(0)
        for stat in module.MmStatsReader(view):
            ok = allowed.get(stat.label)
            if ok is None:
                continue
            value = stat.value
            reads[stat.label] += 1
            if value not in ok:
                torn[stat.label] += 1
                if len(examples) < 10:
                    examples.append([stat.label, value])
            if value != last[stat.label]:
                changes[stat.label] += 1
                last[stat.label] = value
    json.dump(
        {
            "reads": reads,
            "torn": torn,
            "changes": changes,
            "examples": examples,
            "seconds": time.monotonic() - started,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
