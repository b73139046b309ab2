"""faust's aiokafka transport, with a cheaper hand-over of fetched messages.

faust hands each fetched message to the streams with
``await wait_first(callback(message), suspend_flow.wait())``: two tasks and an
``asyncio.wait`` per message, so that a rebalance (``suspend_flow``) can interrupt a delivery
that waits.  On this project's 2-vCPU machines that alone was about half of a do-nothing
agent's CPU time (without it: 4.7k -> 7.0k records/s on the stream bench's capture, about 2× on
smaller records; bench/README.md).  A delivery waits only while faust rebuilds its topic
index, or while the agent's queue is full (until the agent takes more, or a rebalance clears the
queues); the worker drops events fetched before a rebalance whenever they reach it (app.py,
`current`).  So: await the delivery directly while the flow is running, and keep faust's
interruptible form whenever it is suspended.  Everything else
(read offsets, gaps, commit cadence, stopping) is faust's loop as it is in the pinned version
(faust-streaming 0.15.3, ``faust.transport.consumer.Consumer._drain_messages``); the stream
tests run the worker through it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.transport.consumer import CONSUMER_FETCHING as FETCHING
from faust.transport.drivers import aiokafka as aiokafka_driver

#: how many messages are handed over between two yields to the event loop (faust: 100)
YIELD_EVERY = 1000


class Consumer(aiokafka_driver.Consumer):
    def records_waiting(self, topic: str) -> int:
        """Records of `topic` on the broker past what has been handed to the streams, over the
        assigned partitions whose positions are known (0 while they are not)."""
        waiting = 0
        for tp in self.assignment():
            if tp.topic != topic:
                continue
            highwater, read_offset = self.highwater(tp), self._read_offset.get(tp)
            if highwater is not None and read_offset is not None:
                waiting += max(0, highwater - read_offset - 1)
        return waiting

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - see the tests
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        flow_suspended = self.suspend_flow.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        set_flag, unset_flag = self.diag.set_flag, self.diag.unset_flag
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(FETCHING)
                messages = getmany(timeout=1.0)
                await self.sleep(0)
                if self.should_stop:
                    continue
                since_yield = 0
                async for tp, message in messages:
                    since_yield += 1
                    if since_yield >= YIELD_EVERY:
                        await asyncio.sleep(0)
                        since_yield = 0
                    offset = message.offset
                    read_offset = get_read_offset(tp)
                    if read_offset is not None and offset < read_offset:
                        continue  # already delivered (faust drops these too)
                    if read_offset and offset - read_offset > 1 and acks_enabled_for(message.topic):
                        await self._add_gap(tp, read_offset + 1, offset)
                    if commit_every is not None and self._n_acked >= commit_every:
                        self._n_acked = 0
                        await self.commit()
                    if flow_suspended():
                        await self.wait_first(callback(message), self.suspend_flow.wait())
                    else:
                        await callback(message)
                    set_read_offset(tp, offset)
                unset_flag(FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        finally:
            unset_flag(FETCHING)


class Transport(aiokafka_driver.Transport):
    Consumer = Consumer


class App(faust.App):
    """A faust app whose consumer is the one above (its producer is faust's own)."""

    def _new_transport(self) -> Transport:
        return Transport(self.conf.broker_consumer, self)
