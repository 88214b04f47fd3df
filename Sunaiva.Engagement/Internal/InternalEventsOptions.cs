using System.ComponentModel.DataAnnotations;

namespace Sunaiva.Engagement.Internal;

/// <summary>The shared bearer token of the conversation backend (AppHost parameter <c>internal-events-token</c>).</summary>
public sealed class InternalEventsOptions
{
    public const string SectionName = "InternalEvents";

    [Required(ErrorMessage = "InternalEvents:Token is not configured (AppHost parameter internal-events-token).")]
    [MinLength(16)]
    public string Token { get; set; } = string.Empty;
}
