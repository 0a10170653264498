"""Model cards (Mitchell et al. 2019) and dataset datasheets (Gebru et al. 2021).

A :class:`ModelCard` has the nine sections of Mitchell et al., "Model Cards for
Model Reporting" (FAT* 2019): model details, intended use, factors, metrics,
evaluation data, training data, quantitative analyses, ethical considerations,
caveats and recommendations. Five are generated from what the registry measured
(details, metrics, evaluation data, training data, per-group quantitative
analyses); four are free text written by people (intended use, factors, ethical
considerations, caveats) and are *required* before a deployment can go to public
comment. Numbers are never typed by hand into a card.

A :class:`Datasheet` follows Gebru et al., "Datasheets for Datasets" (CACM 2021),
with the questions that matter for police records: how incidents were recorded
(reported by the public vs discovered by police activity), coverage, known
enforcement bias and geocoding error; counts come from the store.

Both render to Markdown and to HTML (escaped, self-contained).

Failure modes: a card is only as honest as its free text; per-group numbers with
small ``n`` are shown with their ``n`` so readers can discount them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2

__all__ = ["CARD_FREE_TEXT", "CARD_SECTIONS", "DATASHEET_QUESTIONS", "Datasheet", "ModelCard"]

#: The nine sections of Mitchell et al. (2019), in order.
CARD_SECTIONS: tuple[tuple[str, str], ...] = (
    ("model_details", "Model details"),
    ("intended_use", "Intended use"),
    ("factors", "Factors"),
    ("metrics", "Metrics"),
    ("evaluation_data", "Evaluation data"),
    ("training_data", "Training data"),
    ("quantitative_analyses", "Quantitative analyses"),
    ("ethical_considerations", "Ethical considerations"),
    ("caveats", "Caveats and recommendations"),
)
#: Sections written by people; required before deployment.
CARD_FREE_TEXT: tuple[str, ...] = ("intended_use", "factors", "ethical_considerations", "caveats")

#: Datasheet questions: (key, heading, question). Those marked computed are filled from the store.
DATASHEET_QUESTIONS: tuple[tuple[str, str, str], ...] = (
    ("motivation", "Motivation", "Why was the dataset created, by whom, and who funded it?"),
    ("composition", "Composition", "What does one record represent; what is missing?"),
    ("recording", "How incidents were recorded",
     "Reported by the public, discovered by police activity (stops, arrests, patrol), or both? In what share?"),
    ("coverage", "Coverage", "Which places and times are covered, and which are not?"),
    ("enforcement_bias", "Known enforcement bias",
     "Where does police attention, not offending, shape what was recorded?"),
    ("geocoding", "Geocoding error", "How were locations recorded, snapped, suppressed or offset?"),
    ("preprocessing", "Preprocessing", "What was cleaned, dropped or quarantined, and why?"),
    ("uses", "Uses", "What should the data not be used for?"),
    ("distribution", "Distribution and licence", "Under what terms may it be shared?"),
    ("maintenance", "Maintenance", "Who maintains it; how are errors corrected?"),
)

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, sort_keys=True, default=str)
    return "" if value is None else str(value)


_ENV.filters["fmt"] = _fmt

_CARD_HTML = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Model card: {{ card.name }} {{ card.version }}</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;line-height:1.45}
table{border-collapse:collapse}td,th{border:1px solid #999;padding:.2rem .5rem;text-align:left}
.missing{color:#a00;font-style:italic}</style></head><body>
<h1>Model card: {{ card.name }} {{ card.version }}</h1>
{% for key, title in sections %}
<section id="{{ key }}"><h2>{{ loop.index }}. {{ title }}</h2>
{% set body = card.section(key) %}
{% if body is string %}
{% if body %}<p>{{ body }}</p>{% else %}<p class="missing">Not written yet: required before deployment.</p>{% endif %}
{% elif key == 'quantitative_analyses' %}
{% if not body %}<p class="missing">No per-group results were measured.</p>{% endif %}
{% for factor, groups in body.items() %}<h3>{{ factor }}</h3>
<table><tr><th>group</th>{% for m in card.group_metric_names(factor) %}<th>{{ m }}</th>{% endfor %}</tr>
{% for g, vals in groups.items() %}<tr><td>{{ g }}</td>{% for m in card.group_metric_names(factor) %}<td>{{ vals.get(m) | fmt }}</td>{% endfor %}</tr>{% endfor %}
</table>{% endfor %}
{% else %}
<table>{% for k, v in body.items() %}<tr><th>{{ k }}</th><td>{{ v | fmt }}</td></tr>{% endfor %}</table>
{% endif %}
</section>
{% endfor %}
</body></html>
"""
)

_SHEET_HTML = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Datasheet: {{ sheet.dataset }}</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;line-height:1.45}
table{border-collapse:collapse}td,th{border:1px solid #999;padding:.2rem .5rem;text-align:left}
.missing{color:#a00;font-style:italic}</style></head><body>
<h1>Datasheet: {{ sheet.dataset }}</h1>
<h2>Measured</h2><table>{% for k, v in sheet.measured.items() %}<tr><th>{{ k }}</th><td>{{ v | fmt }}</td></tr>{% endfor %}</table>
{% for key, title, question in questions %}
<h2>{{ title }}</h2><p><em>{{ question }}</em></p>
{% if sheet.answers.get(key) %}<p>{{ sheet.answers[key] }}</p>{% else %}<p class="missing">Not answered yet.</p>{% endif %}
{% endfor %}
</body></html>
"""
)


@dataclass(frozen=True, slots=True)
class ModelCard:
    """A model card built from a registry record; render with :meth:`to_markdown` / :meth:`to_html`."""

    name: str
    version: str
    details: Mapping[str, Any]
    evaluation: Mapping[str, Any]
    training: Mapping[str, Any]
    text: Mapping[str, str] = field(default_factory=dict)

    def section(self, key: str) -> Any:
        if key == "model_details":
            return dict(self.details)
        if key == "metrics":
            return dict(self.evaluation.get("metrics", {}))
        if key == "evaluation_data":
            data = self.evaluation.get("data", {})
            return dict(data) if isinstance(data, Mapping) else {"description": data}
        if key == "training_data":
            return dict(self.training)
        if key == "quantitative_analyses":
            return {str(f): dict(g) for f, g in dict(self.evaluation.get("groups", {})).items()}
        return str(self.text.get(key, "") or "")

    def group_metric_names(self, factor: str) -> list[str]:
        groups = dict(self.evaluation.get("groups", {})).get(factor, {})
        names: list[str] = []
        for vals in groups.values():
            for m in vals:
                if m not in names:
                    names.append(str(m))
        return names

    def missing_sections(self) -> list[str]:
        """Free-text sections still empty (each is required before deployment)."""
        return [k for k in CARD_FREE_TEXT if not str(self.text.get(k, "") or "").strip()]

    def to_markdown(self) -> str:
        lines = [f"# Model card: {self.name} {self.version}", ""]
        for i, (key, title) in enumerate(CARD_SECTIONS, start=1):
            lines += [f"## {i}. {title}", ""]
            body = self.section(key)
            if isinstance(body, str):
                lines.append(body if body else "_Not written yet: required before deployment._")
            elif key == "quantitative_analyses":
                if not body:
                    lines.append("_No per-group results were measured._")
                for factor, groups in body.items():
                    names = self.group_metric_names(factor)
                    lines += [f"### {factor}", "", "| group | " + " | ".join(names) + " |",
                              "|---|" + "---|" * len(names)]
                    for g, vals in groups.items():
                        lines.append(f"| {g} | " + " | ".join(_fmt(vals.get(m)) for m in names) + " |")
                    lines.append("")
            else:
                if not body:
                    lines.append("_None recorded._")
                for k, v in body.items():
                    lines.append(f"- **{k}**: {_fmt(v)}")
            lines.append("")
        return "\n".join(lines)

    def to_html(self) -> str:
        return _CARD_HTML.render(card=self, sections=CARD_SECTIONS)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "sections": {key: self.section(key) for key, _ in CARD_SECTIONS},
            "missing": self.missing_sections(),
        }


@dataclass(frozen=True, slots=True)
class Datasheet:
    """A datasheet: measured facts from the store plus people's answers."""

    dataset: str
    measured: Mapping[str, Any]
    answers: Mapping[str, str] = field(default_factory=dict)

    def missing(self) -> list[str]:
        return [k for k, _, _ in DATASHEET_QUESTIONS if not str(self.answers.get(k, "") or "").strip()]

    def to_markdown(self) -> str:
        lines = [f"# Datasheet: {self.dataset}", "", "## Measured", ""]
        lines += [f"- **{k}**: {_fmt(v)}" for k, v in self.measured.items()]
        for key, title, question in DATASHEET_QUESTIONS:
            lines += ["", f"## {title}", "", f"_{question}_", ""]
            lines.append(str(self.answers.get(key) or "_Not answered yet._"))
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        return _SHEET_HTML.render(sheet=self, questions=DATASHEET_QUESTIONS)

    def to_json(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "measured": dict(self.measured), "answers": dict(self.answers),
                "missing": self.missing()}
