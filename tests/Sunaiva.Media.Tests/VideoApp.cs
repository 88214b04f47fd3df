using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Sunaiva.Media.Videos;
using Sunaiva.Testing;

namespace Sunaiva.Media.Tests;

/// <summary>Media with HeyGen configured against <see cref="FakeHeyGen"/> (and its webhook secret).</summary>
public sealed class VideoApp(LocalServers servers, FakeHeyGen heygen) : ServiceApp<Program>(servers, ResourceNames.MediaDb)
{
    public const string WebhookSecret = "whsec_test_heygen";

    protected override void AddSettings(IDictionary<string, string?> values)
    {
        values[$"ConnectionStrings:{ResourceNames.Storage}"] = Servers.StorageConnectionString;
        values["HeyGen:ApiKey"] = "test-key";
        values["HeyGen:TemplateId"] = "tpl_onboarding";
        values["HeyGen:WebhookSecret"] = WebhookSecret;
        // HeyGen's client-side limit (10 jobs a minute) never refills on the tests' fake clock; every test starts 3 jobs.
        values["Integration:Providers:heygen:Limits:0:Permits"] = "100000";
        // The local render is the fallback these tests serve, not what they judge.
        DraftVideos.AddTo(values);
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services =>
            services.AddHttpClient(HeyGenClient.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => heygen));
    }
}
