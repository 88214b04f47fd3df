using System.Net;
using Sunaiva.Testing;

namespace Sunaiva.Engagement.Tests;

[Collection(ServersCollection.Name)]
public sealed class OpsPageTests(LocalServers servers) : IAsyncLifetime
{
    private readonly EngagementApp _app = new(servers);

    public Task InitializeAsync() => _app.StartAsync();

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task Ops_page_is_the_static_page_with_a_csp_that_allows_no_inline_script_and_no_framing()
    {
        using var client = _app.CreateClient();

        var page = await client.GetAsync("/ops");
        var html = await page.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var csp = page.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("default-src 'self'", csp, StringComparison.Ordinal);
        Assert.Contains("script-src 'self';", csp, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);
        Assert.Equal("nosniff", page.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Contains("<script src=\"/ops/ops.js\" defer></script>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("style=", html, StringComparison.Ordinal);
        Assert.Contains("<table id=\"experiments\">", html, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/ops/ops.js", "text/javascript", "/ops/dashboard/data")]
    [InlineData("/ops/ops.js", "text/javascript", "/ops/email/experiments")]
    [InlineData("/ops/ops.css", "text/css", "--accent")]
    public async Task Page_script_and_style_are_served_as_static_files_without_sniffing(string path, string mediaType, string content)
    {
        using var client = _app.CreateClient();

        var response = await client.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(mediaType, response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Contains(content, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
