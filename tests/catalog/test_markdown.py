"""Markdown rendering for documentation: CommonMark + tables in, sanitized HTML out (eventscope.markdown)."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.utils.safestring import SafeString

from eventscope.markdown import render_markdown


def test_commonmark_and_tables_render():
    html = render_markdown("# Orders\n\n**bold** _it_ `code`\n\n| a | b |\n|--:|---|\n| 1 | 2 |\n\n- one\n- two\n")
    assert isinstance(html, SafeString)
    assert "<h1>Orders</h1>" in html
    assert "<strong>bold</strong>" in html and "<em>it</em>" in html and "<code>code</code>" in html
    assert "<table>" in html and '<th style="text-align:right">a</th>' in html and "<td>2</td>" in html
    assert "<ul>" in html and "<li>one</li>" in html


def test_empty_and_none_render_nothing():
    assert render_markdown("") == "" and render_markdown(None) == ""


@pytest.mark.parametrize(
    "evil",
    [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
        "<img src=x onerror=alert(1)>",
        '<iframe src="https://evil.example"></iframe>',
        "<style>body{display:none}</style>",
        '<a href="javascript:alert(1)">x</a>',
        "<svg onload=alert(1)>",
    ],
)
def test_raw_html_comes_out_as_text(evil):
    html = render_markdown(f"before {evil} after")
    assert "<script" not in html.lower() and "<img" not in html and "<iframe" not in html
    assert "<style" not in html and "<svg" not in html and "<a " not in html
    assert "&lt;" in html  # shown, escaped, so the author sees what they wrote


@pytest.mark.parametrize(
    "link",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "![x](javascript:alert(1))",
        "<javascript:alert(1)>",
    ],
)
def test_dangerous_link_schemes_never_become_links(link):
    html = render_markdown(link)
    assert "href=" not in html and "src=" not in html


def test_safe_links_get_rel_noopener_noreferrer_nofollow():
    html = render_markdown("[docs](https://example.com/a?b=1&c=2) and [mail](mailto:team@example.com)")
    assert '<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer nofollow">docs</a>' in html
    assert '<a href="mailto:team@example.com" rel="noopener noreferrer nofollow">mail</a>' in html


def test_images_keep_only_safe_attributes():
    html = render_markdown('![diagram](https://example.com/d.png "Flow")')
    assert html.strip() == '<p><img src="https://example.com/d.png" alt="diagram" title="Flow"></p>'


def test_table_alignment_survives():
    assert 'style="text-align:center"' in render_markdown("| a |\n|:-:|\n| 1 |")


def test_the_sanitizer_holds_on_its_own():
    """The second layer, without the first: HTML that markdown-it would never emit is still cleaned."""
    from eventscope.markdown import _cleaner

    html = _cleaner().clean(
        '<table><tr><td style="position:fixed;text-align:left" onclick="x()">a</td></tr></table>'
        '<a href="javascript:alert(1)" target="_blank">b</a><script>alert(1)</script><div class="x">c</div>'
        '<a href="https://ok.example" rel="opener">d</a>'
    )
    assert 'style="text-align:left"' in html and "position" not in html and "onclick" not in html
    assert "javascript" not in html and "target" not in html and "<script" not in html and "<div" not in html
    assert '<a href="https://ok.example" rel="noopener noreferrer nofollow">d</a>' in html


def test_code_blocks_escape_their_content():
    html = render_markdown('```json\n{"html": "<b>x</b>"}\n```')
    assert "<pre><code>" in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_template_filter_renders_and_sanitizes():
    rendered = Template("{% load eventscope_tags %}{{ text|markdown }}").render(
        Context({"text": "**hi** <script>x</script>"})
    )
    assert "<strong>hi</strong>" in rendered and "<script>" not in rendered
