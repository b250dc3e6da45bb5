"""Every hook of an aiounit test class, noting the order in which aiounit runs them."""

import aiounit

EVENTS = []


class Resource:
    """An async context manager that notes when it is exited."""

    def __init__(self, name):
        self.name = name

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info):
        EVENTS.append(f"exit of {self.name}")


class HookOrder(aiounit.AsyncTestCase):
    @classmethod
    def setUpClass(cls):
        EVENTS.append("setUpClass")
        cls.addClassCleanup(EVENTS.append, "addClassCleanup")

    @classmethod
    async def asyncSetUpClass(cls):
        EVENTS.append("asyncSetUpClass")
        cls.addAsyncClassCleanup(cls.note, "addAsyncClassCleanup")
        await cls.enterAsyncClassContext(Resource("enterAsyncClassContext"))

    def setUp(self):
        EVENTS.append("setUp")
        self.addCleanup(EVENTS.append, "addCleanup")

    async def asyncSetUp(self):
        EVENTS.append("asyncSetUp")
        self.addAsyncCleanup(self.note, "addAsyncCleanup")
        await self.enterAsyncContext(Resource("enterAsyncContext"))

    async def test_it(self):
        EVENTS.append("test method")

    async def asyncTearDown(self):
        EVENTS.append("asyncTearDown")

    def tearDown(self):
        EVENTS.append("tearDown")

    @classmethod
    async def asyncTearDownClass(cls):
        EVENTS.append("asyncTearDownClass")

    @classmethod
    def tearDownClass(cls):
        EVENTS.append("tearDownClass")

    @classmethod
    async def note(cls, text):
        EVENTS.append(text)
