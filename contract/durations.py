"""The one duration syntax of every command line and settings file of the project: defined in
common/durations.py (the load generator reads it there, without this package), re-exported here."""

from __future__ import annotations

from common.durations import EXAMPLES as EXAMPLES
from common.durations import UNITS as UNITS
from common.durations import parse_duration as parse_duration
