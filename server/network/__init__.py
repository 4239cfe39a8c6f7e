"""The network as the registration engine needs it: links, addresses, default routes.

A profile's ``AccessPoint`` names interfaces; the engine registers only while one of
them is up with an address, and re-registers when the default route changes. Polling
for that would be either slow or costly, so the kernel tells us instead (rtnetlink):
``netlink`` reads and writes its messages without I/O, ``state`` folds them into the
answers the engine asks for, and ``monitor`` is the one asyncio socket between them.
"""
