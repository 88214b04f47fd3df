using Microsoft.AspNetCore.Http.HttpResults;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.OpenApi;
using Sunaiva.Contracts;
using Sunaiva.Voice.Catalog;

namespace Sunaiva.Voice.Preferences;

public sealed record VoicePreference(string VoiceId, string Language, DateTime UpdatedAt);

public sealed record VoicePreferenceRequest(string? VoiceId, string? Language);

public static class PreferencesApi
{
    public static RouteGroupBuilder MapPreferencesApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/voice/preferences").RequireAuthorization().WithTags("Voice preferences");
        group.MapGet("/", GetAsync).ProducesProblems(StatusCodes.Status404NotFound)
            .WithSummary("The caller's voice preference")
            .WithResponseExample(StatusCodes.Status200OK, new VoicePreference("en-GB-female-1", "en-GB", new DateTime(2026, 11, 2, 9, 30, 0, DateTimeKind.Utc)));
        group.MapPut("/", PutAsync)
            .WithSummary("Choose the caller's voice (and language; by default the voice's)")
            .WithDescription("Idempotent: putting the same preference again changes nothing. A well-formed id that is not in the catalog answers 422 naming the region's voices.")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status422UnprocessableEntity)
            .WithRequestExample(new VoicePreferenceRequest("en-GB-female-1", "en-GB"));
        return group;
    }

    private static async Task<Results<Ok<VoicePreference>, ProblemHttpResult>> GetAsync(HttpContext http, PreferenceStore store, CancellationToken ct)
    {
        var preference = await store.GetAsync(http.User.UserId(), ct);
        return preference is null
            ? TypedResults.Problem(statusCode: 404, title: "No voice preference yet", detail: "PUT /voice/preferences to choose a voice.")
            : TypedResults.Ok(preference);
    }

    private static async Task<Results<Ok<VoicePreference>, ProblemHttpResult>> PutAsync(VoicePreferenceRequest request, HttpContext http, PreferenceStore store, VoiceCatalog catalog, CancellationToken ct)
    {
        if (!InputRules.IsVoiceId(request.VoiceId))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid voice", detail: "voiceId must look like en-GB-female-1: a language, then dash-separated parts (at most 64 characters).");
        }

        if (catalog.Find(request.VoiceId!) is null)
        {
            return NotInCatalog(request.VoiceId!, catalog);
        }

        var language = request.Language ?? InputRules.LanguageOfVoice(request.VoiceId!);
        if (!InputRules.IsLanguageTag(language))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid language", detail: "language must be a BCP 47 tag such as en or pt-BR.");
        }

        return TypedResults.Ok(await store.UpsertAsync(http.User.UserId(), request.VoiceId!, language, ct));
    }

    private static ProblemHttpResult NotInCatalog(string voiceId, VoiceCatalog catalog)
    {
        // The region is the id without its "-gender-n" tail (en-GB-female-9 -> en-GB).
        var parts = voiceId.Split('-');
        var region = parts.Length >= 2 ? $"{parts[0]}-{parts[1]}" : voiceId;
        if (catalog.InRegion(region) is { } voices)
        {
            var ids = voices.Select(v => v.Id).ToArray();
            return TypedResults.Problem(statusCode: 422, title: "Voice not in the catalog",
                detail: $"{region} has the voices {string.Join(", ", ids)}.",
                extensions: new Dictionary<string, object?> { ["region"] = region, ["validVoiceIds"] = ids });
        }

        return TypedResults.Problem(statusCode: 422, title: "Voice not in the catalog",
            detail: $"No region {region} in the catalog; the regions are {string.Join(", ", catalog.Regions)}.",
            extensions: new Dictionary<string, object?> { ["regions"] = catalog.Regions });
    }
}
