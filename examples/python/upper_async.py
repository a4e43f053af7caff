# Many commands in flight from asyncio: python upper_async.py demo.upper a b c
import asyncio
import sys

import cse


async def main(server_id: str, words: list[str]) -> None:
    with cse.Client(server_id) as client:
        replies = await asyncio.gather(*(client.acall(1, w.encode()) for w in words))
        print(" ".join(r.data.decode() for r in replies))

asyncio.run(main(sys.argv[1], sys.argv[2:]))
