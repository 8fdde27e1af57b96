"""Events: bus implementations (in-process, Redis), persistence into the DB, WebSocket fan-out."""
