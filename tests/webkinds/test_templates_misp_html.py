"""The templates adapter's parsers against pages shaped exactly as MISP 2.5.1 renders them, not only against our
sandbox. The HTML below is written by hand from MISP's view templates at v2.5.1 (Templates/view.ctp and
index.ctp, genericElements/SingleViews/single_view.ctp with Fields/{generic,tags,boolean}Field.ctp,
genericElements/IndexTable/{index_table,row,headers,pagination_links}.ctp with Fields/{generic_field,org,
boolean,actions}.ctp, genericTemplates/delete.ctp): same elements, classes, attributes and whitespace."""

from __future__ import annotations

import pytest
from selectolax.lexbor import LexborHTMLParser

from reconciler.backend.errors import MispError
from reconciler.kinds.templates import parse_index, parse_view

# single_view.ctp: '<tr><td class="meta_table_key %s" title="%s">%s%s</td><td class="meta_table_value %s"
# title="%s">%s %s</td></tr>' per field, the value followed by a space; tagsField.ctp prints its spans on lines
# of their own; booleanField.ctp an icon; the side menu and the element loader follow.
VIEW = """<div class="view"><div class="row-fluid"><div class="span8"><div><h2 class="overflow">Template</h2>\
<table class="meta_table table table-striped table-condensed">\
<tr><td class="meta_table_key " title="">{id}</td><td class="meta_table_value " title="">12 </td></tr>\
<tr><td class="meta_table_key " title="">{name}</td><td class="meta_table_value " title="">Incident &amp; co </td></tr>\
<tr><td class="meta_table_key " title="">{description}</td><td class="meta_table_value " title="">An &lt;incident&gt; \
report </td></tr>\
<tr><td class="meta_table_key " title="">{tags}</td><td class="meta_table_value " title="">
        <span class="tagComplete" style="background-color:#33ff00;color:#000000">tlp:green</span>

        <span class="tagComplete" style="background-color:#004646;color:#ffffff">misp:type="osint"</span>
 </td></tr>\
<tr><td class="meta_table_key " title="">{org}</td><td class="meta_table_value " title="">CIRCL </td></tr>\
<tr><td class="meta_table_key " title="">{share}</td><td class="meta_table_value " title="">\
<i class="fas fa-check"></i> </td></tr>\
</table></div></div><div class="span4"></div></div><div id="accordion"></div><br></div>\
<div class="side-menu"><ul class="nav nav-list"><li><a href="/templates/index">List Templates</a></li></ul></div>
<div id="templateElements" class="view">
    <script type="text/javascript">
        $(document).ready(function() {{
            updateIndex(12, 'template');
        }});
    </script>
</div>
"""
ENGLISH = {"id": "Id", "name": "Name", "description": "Description", "tags": "Tags", "org": "Organisation",
           "share": "Shareable"}
FRENCH = {"id": "Id", "name": "Nom", "description": "Description", "tags": "Étiquettes", "org": "Organisation",
          "share": "Partageable"}


@pytest.mark.parametrize("labels", [ENGLISH, FRENCH], ids=["english", "translated"])
def test_view_page_as_misp_renders_it(labels: dict[str, str]) -> None:
    assert parse_view(VIEW.format(**labels)) == {
        "name": "Incident & co", "description": "An <incident> report", "org": "CIRCL",
        "tags": ["tlp:green", 'misp:type="osint"'], "share": True}


def test_view_page_without_tags_and_not_shared() -> None:
    page = VIEW.format(**ENGLISH)
    tags_cell = page[page.index('title="">\n        <span'):page.index(" </td></tr><tr><td class=\"meta_table_key \" "
                                                                      'title="">Organisation')]
    page = page.replace(tags_cell, 'title="">&nbsp').replace("fa-check", "fa-times")  # tagsField.ctp: '&nbsp'
    parsed = parse_view(page)
    assert (parsed["tags"], parsed["share"], parsed["name"]) == ([], False, "Incident & co")


def test_a_page_of_another_shape_is_an_error_not_empty_values() -> None:
    with pytest.raises(MispError, match="meta_table"):
        parse_view('<div class="templates view"><dl><dt>Name</dt><dd id="templateName">x</dd></dl></div>')


# index_table.ctp: pager, table (thead of sortable links, one tbody row per template, every cell with its
# data-path), counter, pager. The Org cell is OrgImgHelper's link for an org known by name only; the cell
# headed "Name" shows Template.org (MISP's bug); the trash icon opens the delete modal.
INDEX_ROW = """<tr data-row-id="{k}"><td class="short" data-path="Template.id">{id}</td>\
<td class="short" data-path="Organisation"><a href="/organisations/view/CIRCL"><span class="welcome">CIRCL</span></a></td>\
<td class="short" data-path="Template.share"><i class="fa {share} black" role="img" aria-label="Yes"></i></td>\
<td class="short" data-path="Template.org">CIRCL</td>\
<td class="bitwider" data-path="Template.description">{description}</td>\
<td class="short action-links"><a href="/templates/view/{id}" title="" aria-label=""><i class="black fas fa-eye">\
</i></a> <a href="/templates/edit/{id}" title="Edit" aria-label="Edit"><i class="black fas fa-edit"></i></a> \
<a href="#" title="" aria-label="" onclick="event.preventDefault();openGenericModal('/templates/delete/{id}');">\
<i class="black fas fa-trash"></i></a> </td></tr>"""
PAGER = """<div class="pagination"><ul><li class="pagination_link first disabled"><span>&laquo; first</span></li>\
<li class="pagination_link prev disabled"><span>&laquo; previous</span></li><li class="active"><span>1</span></li>\
<li><a href="/templates/index/page:2">2</a></li><li><a href="/templates/index/page:2" rel="next">next &raquo;</a>\
</li><li><a href="/templates/index/page:2">last &raquo;</a></li></ul></div>"""
INDEX = """<div id="index_container_1b2c3d_content" class="index"><h2>Templates</h2>{pager}<div style="">\
<table class="table table-striped table-hover table-condensed"><thead>\
<th class="pagination_link"><a href="/templates/index/sort:Template.id/direction:asc">Id</a></th>\
<th class="pagination_link"><a href="/templates/index/sort:Organisation.name/direction:asc">Org</a></th>\
<th class="pagination_link"><a href="/templates/index/sort:Template.share/direction:asc">Share</a></th>\
<th class="pagination_link"><a href="/templates/index/sort:Template.org/direction:asc">Name</a></th>\
<th class="pagination_link"><a href="/templates/index/sort:Template.description/direction:asc">Description</a></th>\
<th class="actions">Actions</th></thead><tbody>{rows}</tbody></table></div>\
<p>Page 1 of 2, showing 2 records out of 52 total, starting on record 1, ending on 2</p>{pager}</div>"""


def test_index_page_as_misp_renders_it() -> None:
    rows = INDEX_ROW.format(k=0, id=12, share="fa-check", description="An &lt;incident&gt; report") + \
        INDEX_ROW.format(k=1, id=5, share="fa-times", description="")
    parsed, nxt = parse_index(INDEX.format(pager=PAGER, rows=rows))
    assert parsed == [{"id": "12", "org": "CIRCL", "description": "An <incident> report", "share": True},
                      {"id": "5", "org": "CIRCL", "description": "", "share": False}]
    assert nxt == "/templates/index/page:2"
    last_pager = PAGER.replace('<li><a href="/templates/index/page:2" rel="next">next &raquo;</a></li>',
                               '<li class="pagination_link next disabled"><span>next &raquo;</span></li>')
    assert parse_index(INDEX.format(pager=last_pager, rows=rows))[1] is None


def test_delete_modal_holds_the_form_the_adapter_posts() -> None:
    """genericTemplates/delete.ctp: Form->postLink('Delete', here) is a hidden form and a link."""
    modal = """<div id="genericModal" class="modal hide fade" tabindex="-1" role="dialog" \
aria-labelledby="genericModalLabel" aria-hidden="true"><div class="modal-header"><button type="button" class="close" \
data-dismiss="modal" aria-hidden="true"><span aria-hidden="true">&times;</span></button><h3 id="genericModalLabel">\
Delete Template</h3></div><div class="modal-body modal-body-long"><p>Are you sure you want to delete Template #12?</p>\
</div><div class="modal-footer"><form action="/misp/templates/delete/12" name="post_65f1a2b3c4d5e" \
id="post_65f1a2b3c4d5e" style="display:none;" method="post"><input type="hidden" name="_method" value="POST"/>\
<input type="hidden" name="data[_Token][key]" value="k" id="Token1"/><div style="display:none;"><input type="hidden" \
name="data[_Token][fields]" value="f%3A" id="TokenFields1"/><input type="hidden" name="data[_Token][unlocked]" \
value="" id="TokenUnlocked1"/></div></form><a href="#" class="btn btn-primary" onclick="if (confirm(&quot;&quot;)) \
{ document.post_65f1a2b3c4d5e.submit(); } event.returnValue = false; return false;">Delete</a>\
<button type="button" class="btn btn-secondary cancel-button" data-dismiss="modal">Cancel</button></div></div>"""
    # the selector TemplateAdapter.delete submits (a base URL may prefix the action)
    assert LexborHTMLParser(modal).css_first('form[action$="/templates/delete/12"]') is not None
