"""hikube-gpu: the Hikube GPU Portal from a terminal, a script or a CI job, through /api/v1/."""
