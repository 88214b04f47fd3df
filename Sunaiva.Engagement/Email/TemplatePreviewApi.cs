using Microsoft.AspNetCore.Http.HttpResults;
using Sunaiva.Engagement.Email.Templates;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.OpenApi;

namespace Sunaiva.Engagement.Email;

/// <summary><c>GET /ops/email/templates</c> and <c>/ops/email/templates/{name}/preview?lang=</c>: templates rendered with sample data (ops role).</summary>
public static class TemplatePreviewApi
{
    public static RouteGroupBuilder MapTemplatePreviewApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/ops/email/templates").RequireOps().WithTags("Ops");
        group.MapGet("/", (EmailTemplateEngine templates) => TypedResults.Ok(templates.Names))
            .WithSummary("The email templates in this build");
        group.MapGet("/{name}/preview", PreviewAsync)
            .ProducesProblems(StatusCodes.Status404NotFound)
            .WithSummary("Render one template with sample data (subject, preheader, HTML and text parts)")
            .WithDescription("lang picks the language file (en, es, fr, de, pt for the welcome series); others fall back to en.");
        return group;
    }

    private static async Task<Results<Ok<RenderedEmail>, ProblemHttpResult>> PreviewAsync(string name, string? lang, EmailTemplateEngine templates, CancellationToken ct)
    {
        if (!templates.Exists(name))
        {
            return TypedResults.Problem(statusCode: 404, title: "Unknown template", detail: $"There is no template by that name; GET /ops/email/templates lists them.");
        }

        return TypedResults.Ok(await templates.RenderAsync(name, lang, SampleModel, new SampleLinks(), ct));
    }

    private static readonly Dictionary<string, object?> SampleModel = new(StringComparer.Ordinal)
    {
        ["user"] = new Dictionary<string, object?> { ["first_name"] = "Ada", ["name"] = "Ada Lovelace" },
        ["links"] = new Dictionary<string, object?>
        {
            ["app"] = "https://app.sunaiva.local/", ["voice"] = "https://app.sunaiva.local/voice",
            ["upload"] = "https://app.sunaiva.local/vault/upload", ["subscribe"] = "https://app.sunaiva.local/plans",
        },
        ["videos"] = new List<object> { new Dictionary<string, object?> { ["kind"] = "welcome", ["title"] = "Welcome", ["url"] = "https://media.sunaiva.local/v/sample" } },
        ["payment"] = new Dictionary<string, object?>
        {
            ["amount"] = "9.99 USD", ["action_required"] = false, ["next_attempt"] = "3 December 2026", ["grace_until"] = "10 December 2026",
            ["invoice_url"] = "https://invoice.stripe.com/i/sample",
        },
        ["payout"] = new Dictionary<string, object?>
        {
            ["amount"] = "120.00 USD", ["period"] = "2026-10", ["referral_code"] = "DEMO", ["transfer_id"] = "tr_sample", ["reason"] = "the bank account was closed",
        },
        ["days"] = 14,
        ["segment"] = "inactive-14",
        ["report"] = Reports.InfluencerReport.SampleModel(),
    };

    private sealed class SampleLinks : IEmailLinks
    {
        public string Click(string target) => target;

        public string? OpenPixel => null;

        public string? Unsubscribe => "https://engagement.sunaiva.local/email/unsubscribe?token=sample";

        public string? Preferences => "https://app.sunaiva.local/settings/email";
    }
}
