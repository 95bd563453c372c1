"""The pages the Teams app package links to: ``/``, ``/privacy`` and ``/terms``, as an admin
and Teams' app validation open them."""

from __future__ import annotations

from pathlib import Path

from smartnotes.settings import Settings, SiteSettings
from tests.api_client import running_api


async def test_the_home_privacy_and_terms_pages_answer(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, site=SiteSettings(operator="Northwind Traders"))
    async with running_api(settings, process=False, queues=()) as api:
        for path, words in (
            ("/", "turns sales calls into notes"),
            ("/privacy", "Ask Northwind Traders for how long data is kept"),
            ("/terms", "provided to you by Northwind Traders"),
        ):
            async with api.http.get(api.url(path)) as response:
                assert response.status == 200, path
                assert response.content_type == "text/html"
                assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
                assert words in await response.text(), path


async def test_the_companys_own_pages_and_texts(tmp_path: Path) -> None:
    terms = tmp_path / "terms.txt"
    terms.write_text("Our terms.\n\nSecond <b>paragraph</b>.", encoding="utf-8")
    site = SiteSettings(privacy_url="https://northwind.example/legal/privacy", terms_file=terms)
    async with running_api(
        Settings(data_dir=tmp_path / "data", site=site), process=False, queues=()
    ) as api:
        async with api.http.get(api.url("/privacy"), allow_redirects=False) as response:
            assert response.status == 302
            assert response.headers["Location"] == "https://northwind.example/legal/privacy"
        async with api.http.get(api.url("/terms")) as response:
            assert response.status == 200
            page = await response.text()
        assert "<p>Our terms.</p>" in page
        assert "Second &lt;b&gt;paragraph&lt;/b&gt;." in page, "the text is shown, not run"
        terms.unlink()
        async with api.http.get(api.url("/terms")) as response:
            assert response.status == 503, "a missing text is an operator's problem, not a 500"
