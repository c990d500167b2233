def test_login_page_renders(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert b"Sign in" in response.content


def test_pages_require_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.url.startswith("/login/")
