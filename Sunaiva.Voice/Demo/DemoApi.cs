using Microsoft.Extensions.FileProviders;

namespace Sunaiva.Voice.Demo;

public static class DemoApi
{
    /// <summary><c>/voice/demo</c>: a static page to talk with the local pipeline (files copied next to the assembly, so any content root works).</summary>
    public static IEndpointRouteBuilder MapVoiceDemo(this WebApplication app)
    {
        var files = new PhysicalFileProvider(Path.Combine(AppContext.BaseDirectory, "Demo", "site"));
        app.UseStaticFiles(new StaticFileOptions { FileProvider = files, RequestPath = "/voice/demo" });
        app.MapGet("/voice/demo", (HttpContext http) =>
        {
            http.Response.Headers.ContentSecurityPolicy = "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob:";
            return TypedResults.File(files.GetFileInfo("index.html").CreateReadStream(), "text/html; charset=utf-8");
        }).AllowAnonymous().ExcludeFromDescription();
        return app;
    }
}
