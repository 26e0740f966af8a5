"""What building one monitor's scrape configs needs besides the monitor itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from otel_operator.prom.monitors.common import Invalid, opt_obj, opt_str
from otel_operator.prom.monitors.options import GeneratorOptions
from otel_operator.prom.monitors.secrets import SecretStore


@dataclass(frozen=True, slots=True)
class Context:
    namespace: str  # the monitor's; Secret references and the default namespace selection use it
    name: str
    store: SecretStore
    options: GeneratorOptions
    scrape_class: Mapping[str, Any]  # the monitor's scrape class, the default one, or {}
    scrape_class_path: str  # where errors in the class's own fields point, e.g. 'scrapeClasses["tls"]'


def scrape_class_for(options: GeneratorOptions, name: str | None, path: str) -> tuple[Mapping[str, Any], str]:
    """The named scrape class, else the default one, else none; with the path errors in it should name."""
    if name:
        for scrape_class in options.scrape_classes:
            if scrape_class.get("name") == name:
                return scrape_class, f'scrapeClasses["{name}"]'
        known = ", ".join(f'"{c.get("name")}"' for c in options.scrape_classes) or "none are defined"
        raise Invalid(path, f'scrape class "{name}" not found in the scrape classes; known: {known}')
    for scrape_class in options.scrape_classes:
        if scrape_class.get("default") is True:
            return scrape_class, f'scrapeClasses["{scrape_class.get("name")}"]'
    return {}, "scrapeClasses[]"


def context_for(monitor: Mapping[str, Any], store: SecretStore, options: GeneratorOptions) -> Context:
    meta = opt_obj(monitor, "metadata", "") or {}
    spec = opt_obj(monitor, "spec", "") or {}
    scrape_class, class_path = scrape_class_for(options, opt_str(spec, "scrapeClass", "spec"), "spec.scrapeClass")
    return Context(
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta.get("name") or ""),
        store=store,
        options=options,
        scrape_class=scrape_class,
        scrape_class_path=class_path,
    )
