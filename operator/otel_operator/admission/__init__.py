"""Admission webhooks: validation and defaulting of OpenTelemetryCollectors and TargetAllocators at `kubectl apply`,
sidecar injection into pods, and the serving certificate the API server trusts.

`names` holds every path, webhook name and default object name the operator, the chart and the tests share.
"""
