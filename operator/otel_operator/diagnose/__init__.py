"""`otel-operator diagnose`: "why isn't my target scraped?" answered from the cluster's objects, with the fix."""

from otel_operator.diagnose.core import diagnose
from otel_operator.diagnose.model import Finding, Inputs

__all__ = ["Finding", "Inputs", "diagnose"]
