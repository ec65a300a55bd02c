"""Casework: what the coordinator does with what the monitor found.

- :mod:`~monitor.casework.review`: the review queue, acknowledgements and verdicts.
- :mod:`~monitor.casework.evidence`: evidence bundles and their verification.
- :mod:`~monitor.casework.retention`: retention periods and purges.
- :mod:`~monitor.casework.sar`: subject access requests.
- :mod:`~monitor.casework.calibration`: how right the automatic keys are, by the verdicts.
"""
