using Microsoft.AspNetCore.Http.HttpResults;
using Sunaiva.ServiceDefaults.OpenApi;

namespace Sunaiva.Voice.Catalog;

/// <summary>A catalog voice as the API shows it.</summary>
public sealed record VoiceView(string Id, string DisplayName, string Gender, string Language, string Region, string SampleUrl)
{
    public static VoiceView Of(VoiceEntry voice) =>
        new(voice.Id, voice.DisplayName, voice.Gender, voice.Language, voice.Region, $"/voices/{voice.Id}/sample");
}

public static class VoicesApi
{
    public static RouteGroupBuilder MapVoicesApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/voices").RequireAuthorization().WithTags("Voices");
        group.MapGet("/", List)
            .WithSummary("The catalog's voices, of one region or all")
            .WithDescription("Each region has exactly 6 voices, 3 male and 3 female. An unknown region answers 404 naming the known ones.")
            .ProducesProblems(StatusCodes.Status404NotFound)
            .WithResponseExample(StatusCodes.Status200OK, new[] { new VoiceView("en-GB-female-1", "Olivia", "female", "en", "en-GB", "/voices/en-GB-female-1/sample") });
        group.MapGet("/{id}", Get)
            .WithSummary("One catalog voice")
            .ProducesProblems(StatusCodes.Status404NotFound);
        group.MapGet("/{id}/sample", SampleAsync)
            .WithSummary("A short spoken sample of the voice (WAV, synthesized locally and cached)")
            .Produces<Stream>(StatusCodes.Status200OK, "audio/wav")
            .ProducesProblems(StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable);
        return group;
    }

    private static Results<Ok<VoiceView[]>, ProblemHttpResult> List(string? region, VoiceCatalog catalog)
    {
        if (string.IsNullOrEmpty(region))
        {
            return TypedResults.Ok(catalog.All.Select(VoiceView.Of).ToArray());
        }

        return catalog.InRegion(region) is { } voices
            ? TypedResults.Ok(voices.Select(VoiceView.Of).ToArray())
            : TypedResults.Problem(statusCode: 404, title: "Unknown region", detail: $"Known regions: {string.Join(", ", catalog.Regions)}.",
                extensions: new Dictionary<string, object?> { ["regions"] = catalog.Regions });
    }

    private static Results<Ok<VoiceView>, ProblemHttpResult> Get(string id, VoiceCatalog catalog) =>
        catalog.Find(id) is { } voice ? TypedResults.Ok(VoiceView.Of(voice)) : UnknownVoice(id);

    private static async Task<Results<FileContentHttpResult, ProblemHttpResult>> SampleAsync(string id, HttpContext http, VoiceCatalog catalog, EspeakSampler sampler, CancellationToken ct)
    {
        if (catalog.Find(id) is not { } voice)
        {
            return UnknownVoice(id);
        }

        try
        {
            return TypedResults.File(await sampler.SampleAsync(voice, ct), "audio/wav", $"{voice.Id}.wav");
        }
        catch (SpeechSynthesisUnavailableException e)
        {
            http.Response.Headers.RetryAfter = "30";
            return TypedResults.Problem(statusCode: 503, title: "Speech synthesis unavailable", detail: e.Message);
        }
    }

    private static ProblemHttpResult UnknownVoice(string id) =>
        TypedResults.Problem(statusCode: 404, title: "Unknown voice", detail: $"No voice {id} in the catalog; GET /voices lists them.");
}
