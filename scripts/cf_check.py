"""Check a result file with cfchecker (the CF Checker of NCAS/CEDA), offline.

    python -m venv /tmp/cf-venv && /tmp/cf-venv/bin/pip install cfchecker==4.1.0   # needs libudunits2
    /tmp/cf-venv/bin/python scripts/cf_check.py results/<run folder>/data.nc

cfchecker is not a dependency of shockmodel: it needs the UDUNITS-2 C library and, by default, downloads
the CF standard-name, area-type and region tables. A shockmodel file has no ``standard_name``,
``area_type`` or region attributes, so empty tables (written here to a temporary folder) check the same
thing without a network. Two adaptations of cfchecker 4.1.0, the newest on PyPI: it knows CF up to 1.8,
so the check is against CF-1.8 (the file says CF-1.10); and its monotonic test of coordinate variables
crashes on string labels (``numpy.diff`` of str), so string coordinates are tested for distinct values
instead. What it still reports and why is in docs/contracts.md (section 3).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

TABLES = {
    "std.xml": "<standard_name_table><version_number>0</version_number>"
               "<last_modified>offline</last_modified></standard_name_table>",
    "area.xml": "<area_type_table><version_number>0</version_number><date>offline</date></area_type_table>",
    "region.xml": "<standardized_region_list><version_number>0</version_number><date>offline</date>"
                  "</standardized_region_list>",
}


def main(files: list[str]) -> int:
    import numpy
    from cfchecker import cfchecks

    numeric_test = cfchecks.CFChecker.isStrictlyMonotonic

    def monotonic(self, values):
        values = numpy.asarray(values)
        if values.dtype.kind in "OUS":   # string labels: distinct is what a label coordinate needs
            return 1 if len(set(values.ravel().tolist())) == values.size else 0
        return numeric_test(self, values)

    cfchecks.CFChecker.isStrictlyMonotonic = monotonic
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in TABLES.items():
            (Path(tmp) / name).write_text(f'<?xml version="1.0"?>\n{text}\n')
        sys.argv = ["cfchecks", "-s", f"{tmp}/std.xml", "-a", f"{tmp}/area.xml", "-r", f"{tmp}/region.xml",
                    "-v", "1.8", *files]
        try:
            cfchecks.main()
        except SystemExit as done:
            return int(done.code or 0)
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
