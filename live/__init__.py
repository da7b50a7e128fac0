"""The live process: server-sent events for the staff pages, fed by Redis pub/sub.

``python -m live`` (the Procfile's ``live`` line) runs an aiohttp server with no database
access and none of the web process's workers: one Redis pattern subscription (``live:*``)
for the whole process, fanned out in memory to every connected page whose ticket
(``livebus.topics_of``) grants the topic. See live/server.py.
"""
