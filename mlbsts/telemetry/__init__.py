"""Telemetry of every process: logs, metrics, traces and health (docs/operating.md).

``mlbsts.telemetry.setup.setup_telemetry`` sets it all up, once per process. The modules
the data path imports (``metrics``, ``tracing``, ``logs``) need only the OpenTelemetry API,
so importing them is cheap and sets up nothing; the SDK and exporters load at set-up.
"""
