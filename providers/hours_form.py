"""The weekly hours editor: per day "closed" or up to a few intervals as time inputs, and dated
exceptions (closed, or special hours) with a native date input. Turns the posted fields into
the rows `provider_hours_set` takes; every mistake is reported at the field it concerns."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, time
from typing import Any

from django import forms
from django.http import QueryDict

from providers import rules
from providers.models import Provider, Weekday
from providers.services import ProviderHours
from providers.slots import Interval

INTERVALS_PER_DAY = 2
BLANK_EXCEPTION_ROWS = 3
MAX_EXCEPTION_ROWS = 60


def _time_field() -> forms.TimeField:
    return forms.TimeField(
        required=False,
        input_formats=["%H:%M", "%H:%M:%S"],
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )


@dataclass
class DayRow:
    label: str
    number: int
    closed: forms.BoundField
    pairs: list[tuple[forms.BoundField, forms.BoundField]]
    errors: list[str]


@dataclass
class ExceptionRow:
    day: forms.BoundField
    closed: forms.BoundField
    start: forms.BoundField
    end: forms.BoundField
    errors: list[str]


def _overlap_error(intervals: list[Interval]) -> str | None:
    for (s1, e1), (s2, e2) in itertools.pairwise(sorted(intervals)):
        if s2 < e1:
            return f"{s1:%H:%M}–{e1:%H:%M} and {s2:%H:%M}–{e2:%H:%M} overlap."
    return None


class WeeklyHoursForm(forms.Form):
    """`d<weekday>_closed`, `d<weekday>_s<i>`/`_e<i>`; `x<i>_date`, `x<i>_closed`, `x<i>_s`/`_e`."""

    def __init__(self, *args: Any, provider: Provider, today: date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.provider, self.today = provider, today
        data = self.data if self.is_bound else self.initial
        per_day = max([INTERVALS_PER_DAY, *(self._count(data, f"d{d}_s") for d in range(7))])
        rows = min(MAX_EXCEPTION_ROWS, max(BLANK_EXCEPTION_ROWS, self._count(data, "x", "_date")))
        for day in Weekday:
            d = day.value
            self.fields[f"d{d}_closed"] = forms.BooleanField(required=False, label=f"{day.label}: closed")
            for i in range(per_day):
                self.fields[f"d{d}_s{i}"] = _time_field()
                self.fields[f"d{d}_e{i}"] = _time_field()
        for i in range(rows):
            self.fields[f"x{i}_date"] = forms.DateField(
                required=False,
                input_formats=["%Y-%m-%d"],
                widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            )
            self.fields[f"x{i}_closed"] = forms.BooleanField(required=False, label="Closed all day")
            self.fields[f"x{i}_s"] = _time_field()
            self.fields[f"x{i}_e"] = _time_field()
        self.per_day, self.rows = per_day, rows

    @staticmethod
    def _count(data: Any, prefix: str, suffix: str = "") -> int:
        """How many numbered fields `<prefix><n><suffix>` the data holds (their highest n + 1)."""
        found = [-1]
        for key in data:
            if key.startswith(prefix) and key.endswith(suffix):
                middle = key[len(prefix) : len(key) - len(suffix)] if suffix else key[len(prefix) :]
                if middle.isdigit() and int(middle) < MAX_EXCEPTION_ROWS:
                    found.append(int(middle))
        return max(found) + 1

    @classmethod
    def initial_for(cls, provider: Provider, today: date) -> dict[str, Any]:
        """The saved hours; only exceptions from today on (past ones are kept, not shown), then
        a few blank rows."""
        hours = ProviderHours.load(provider)
        if not hours.weekly:  # a new business: a usual week to start from
            hours.weekly.update({d: [(time(9), time(17))] for d in range(5)})
        initial: dict[str, Any] = {}
        for d in range(7):
            intervals = sorted(hours.weekly.get(d, []))
            initial[f"d{d}_closed"] = not intervals
            for n, interval in enumerate(intervals):
                initial[f"d{d}_s{n}"], initial[f"d{d}_e{n}"] = interval
        i = 0
        for day, intervals in sorted(hours.exceptions.items()):
            if day < today:
                continue
            rows: list[tuple[time | None, time | None]] = list(intervals) or [(None, None)]
            for row in rows:
                initial[f"x{i}_date"], initial[f"x{i}_closed"] = day, not intervals
                initial[f"x{i}_s"], initial[f"x{i}_e"] = row
                i += 1
        for blank in range(i, i + BLANK_EXCEPTION_ROWS):
            initial[f"x{blank}_date"] = None
        return initial

    @staticmethod
    def copied(data: QueryDict, source: int, targets: list[int]) -> QueryDict:
        """The posted hours with day `source` copied onto `targets` (the "Copy to…" button)."""
        out = data.copy()
        for target in targets:
            if target == source or not 0 <= target <= 6:
                continue
            for key in [k for k in out if k.startswith(f"d{target}_")]:
                del out[key]
            for key in [k for k in data if k.startswith(f"d{source}_")]:
                out[f"d{target}_" + key.removeprefix(f"d{source}_")] = data.get(key, "")
        return out

    # --- reading the posted rows ----------------------------------------------------------

    def _pair(self, start_key: str, end_key: str) -> Interval | None:
        start: time | None = self.cleaned_data.get(start_key)
        end: time | None = self.cleaned_data.get(end_key)
        if start is None and end is None:
            return None
        if start is None or end is None:
            self.add_error(start_key if start is None else end_key, "Give both a start and an end time.")
            return None
        if end <= start:
            self.add_error(end_key, f"{end:%H:%M} is not after {start:%H:%M}.")
            return None
        return (start, end)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        weekly: list[tuple[int, time, time]] = []
        per_day: dict[int, list[Interval]] = {}
        for d in range(7):
            pairs = [self._pair(f"d{d}_s{i}", f"d{d}_e{i}") for i in range(self.per_day)]
            intervals = [] if cleaned.get(f"d{d}_closed") else [p for p in pairs if p is not None]
            if error := _overlap_error(intervals):
                self.add_error(f"d{d}_s0", error)
            per_day[d] = sorted(intervals)
            weekly.extend((d, s, e) for s, e in sorted(intervals))
        cleaned["weekly"] = weekly
        cleaned["exception_rows"] = self._exceptions(cleaned)
        if not self.errors:
            services = self.provider.services.filter(is_active=True)
            for message in rules.hours_errors(per_day.values(), services).values():
                self.add_error(None, message)
        return cleaned

    def _exceptions(self, cleaned: dict[str, Any]) -> list[tuple[date, time | None, time | None]]:
        closed: set[date] = set()
        special: dict[date, list[Interval]] = {}
        first_row: dict[date, int] = {}
        for i in range(self.rows):
            day: date | None = cleaned.get(f"x{i}_date")
            if day is None:
                if any(cleaned.get(f"x{i}_{k}") for k in ("s", "e")) and f"x{i}_date" not in self.errors:
                    self.add_error(f"x{i}_date", "Choose the date these hours are for.")
                continue
            if day < self.today:
                self.add_error(f"x{i}_date", f"{day:%d %b %Y} is in the past.")
                continue
            first_row.setdefault(day, i)
            if cleaned.get(f"x{i}_closed"):
                closed.add(day)
                continue
            pair = self._pair(f"x{i}_s", f"x{i}_e")
            if pair is None and f"x{i}_s" not in self.errors and f"x{i}_e" not in self.errors:
                self.add_error(f"x{i}_s", "Give the hours, or tick “Closed all day”.")
            if pair is not None:
                special.setdefault(day, []).append(pair)
        rows: list[tuple[date, time | None, time | None]] = []
        for day in sorted(closed | special.keys()):
            if day in closed and day in special:
                self.add_error(f"x{first_row[day]}_date", f"{day:%d %b %Y} is both closed and open; keep one.")
            elif day in closed:
                rows.append((day, None, None))
            elif error := _overlap_error(special[day]):
                self.add_error(f"x{first_row[day]}_s", f"{day:%d %b %Y}: {error}")
            else:
                rows.extend((day, s, e) for s, e in sorted(special[day]))
        return rows

    # --- what the template lays out -------------------------------------------------------

    def days(self) -> list[DayRow]:
        rows = []
        for day in Weekday:
            d = day.value
            keys = [f"d{d}_closed"] + [f"d{d}_{k}{i}" for i in range(self.per_day) for k in "se"]
            rows.append(
                DayRow(
                    label=day.label,
                    number=d,
                    closed=self[f"d{d}_closed"],
                    pairs=[(self[f"d{d}_s{i}"], self[f"d{d}_e{i}"]) for i in range(self.per_day)],
                    errors=[str(e) for k in keys for e in self.errors.get(k, [])],
                )
            )
        return rows

    def exception_rows(self) -> list[ExceptionRow]:
        rows = []
        for i in range(self.rows):
            keys = [f"x{i}_{k}" for k in ("date", "closed", "s", "e")]
            rows.append(
                ExceptionRow(
                    day=self[f"x{i}_date"],
                    closed=self[f"x{i}_closed"],
                    start=self[f"x{i}_s"],
                    end=self[f"x{i}_e"],
                    errors=[str(e) for k in keys for e in self.errors.get(k, [])],
                )
            )
        return rows


def hours_form_for(request: Any, provider: Provider, today: date) -> tuple[WeeklyHoursForm, bool]:
    """The editor's form for a request: the saved hours (GET); the posted ones; or, for a
    "Copy" button, the posted ones with that day copied onto the days ticked beside it (True:
    nothing is to be saved, the page shows the result)."""
    if request.method != "POST":
        return WeeklyHoursForm(
            initial=WeeklyHoursForm.initial_for(provider, today), provider=provider, today=today
        ), False
    action = request.POST.get("action", "")
    if action.startswith("copy-"):
        source = action.removeprefix("copy-")
        data = WeeklyHoursForm.copied(
            request.POST,
            int(source) if source.isdigit() else -1,
            checked_weekdays(request.POST.getlist(f"copy_to_{source}")),
        )
        form = WeeklyHoursForm(data, provider=provider, today=today)
        form.is_valid()  # shows what is still wrong; nothing is saved
        return form, True
    return WeeklyHoursForm(request.POST, provider=provider, today=today), False


def checked_weekdays(values: list[str]) -> list[int]:
    """The "copy to" checkboxes: weekday numbers, anything else dropped."""
    return sorted({int(v) for v in values if v.isdigit() and int(v) <= 6})
