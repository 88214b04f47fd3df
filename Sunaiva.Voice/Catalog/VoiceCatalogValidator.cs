using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Sunaiva.Voice.Catalog;

/// <summary>Refuses a catalog that breaks its rules, naming each voice or region at fault.</summary>
public sealed partial class VoiceCatalogValidator : IValidateOptions<VoiceCatalogOptions>
{
    public const int VoicesPerGender = 3;

    public static readonly string[] OpenAiVoices = ["alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"];

    public ValidateOptionsResult Validate(string? name, VoiceCatalogOptions options)
    {
        var errors = new List<string>();
        if (options.Voices.Count == 0)
        {
            errors.Add($"{VoiceCatalogOptions.Resource} has no voices.");
        }

        foreach (var duplicate in options.Voices.GroupBy(v => v.Id, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1))
        {
            errors.Add($"Voice id {duplicate.Key} appears {duplicate.Count()} times.");
        }

        foreach (var voice in options.Voices)
        {
            var at = $"Voice {voice.Id}";
            if (voice.Gender is not ("male" or "female"))
            {
                errors.Add($"{at}: gender '{voice.Gender}' is neither male nor female.");
            }

            if (voice.Id is null || !Id().IsMatch(voice.Id) || voice.Id != $"{voice.Region}-{voice.Gender}-{voice.Id[^1]}")
            {
                errors.Add($"{at}: the id must read {{region}}-{{gender}}-{{1..{VoicesPerGender}}} (region {voice.Region}, gender {voice.Gender}).");
            }

            if (string.IsNullOrWhiteSpace(voice.DisplayName))
            {
                errors.Add($"{at}: displayName is missing.");
            }

            if (string.IsNullOrWhiteSpace(voice.Language) || !options.Samples.ContainsKey(voice.Language))
            {
                errors.Add($"{at}: language '{voice.Language}' has no sample sentence under samples.");
            }

            if (!OpenAiVoices.Contains(voice.OpenAi))
            {
                errors.Add($"{at}: openai voice '{voice.OpenAi}' is not one of {string.Join(", ", OpenAiVoices)}.");
            }

            if (string.IsNullOrWhiteSpace(voice.ElevenLabs))
            {
                errors.Add($"{at}: elevenLabs voice id is missing.");
            }

            if (voice.Local is not { } local || string.IsNullOrWhiteSpace(local.Voice) || !Variant().IsMatch(local.Variant ?? string.Empty))
            {
                errors.Add($"{at}: local needs an espeak-ng voice and a variant m1..m7 or f1..f5.");
            }
            else
            {
                if (local.Pitch is < 0 or > 99)
                {
                    errors.Add($"{at}: local pitch {local.Pitch} is outside 0..99.");
                }

                if (local.Rate is < 80 or > 450)
                {
                    errors.Add($"{at}: local rate {local.Rate} is outside 80..450 words per minute.");
                }
            }
        }

        foreach (var region in options.Voices.GroupBy(v => v.Region, StringComparer.Ordinal))
        {
            var female = region.Count(v => v.Gender == "female");
            var male = region.Count(v => v.Gender == "male");
            if (female != VoicesPerGender || male != VoicesPerGender)
            {
                errors.Add($"Region {region.Key} has {female} female and {male} male voices; it needs exactly {VoicesPerGender} of each.");
            }

            foreach (var same in region.Where(v => v.Local is not null).GroupBy(v => (v.Local.Voice, v.Local.Variant, v.Local.Pitch)).Where(g => g.Count() > 1))
            {
                errors.Add($"Region {region.Key}: {string.Join(" and ", same.Select(v => v.Id))} sound the same locally (voice, variant and pitch).");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    [GeneratedRegex("^[a-z]{2}-[A-Z]{2}-(male|female)-[1-3]$")]
    private static partial Regex Id();

    [GeneratedRegex("^(m[1-7]|f[1-5])$")]
    private static partial Regex Variant();
}
