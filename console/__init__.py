"""The Plataforma agent's console at /agente: the page, its softphone token, its JSON state."""
