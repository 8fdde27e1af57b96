"""Control plane: task graph, resources, scheduler, executors and the event bus."""
