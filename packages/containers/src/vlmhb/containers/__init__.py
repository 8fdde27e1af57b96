"""Container envs (docker, apptainer), local image builds and container clean-up.

Only the host orchestrator (or an agent on a GPU host) imports this package: it is the one
place that talks to the Docker engine; stage containers never get its socket."""
