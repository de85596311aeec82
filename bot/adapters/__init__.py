"""Platform adapters: the only code that imports a messaging SDK or aiohttp.web."""
