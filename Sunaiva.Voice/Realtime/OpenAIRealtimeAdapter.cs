using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Sunaiva.Integration;

namespace Sunaiva.Voice.Realtime;

/// <summary>
/// OpenAI Realtime: <c>POST /v1/realtime/client_secrets</c> with the session (model, instructions, output voice, input
/// turn detection) and the secret's lifetime; the answer's <c>value</c> (ek_...) and <c>expires_at</c> go to the client,
/// which then connects to OpenAI over WebRTC itself. The server key only ever travels in this request's Authorization.
/// </summary>
public sealed class OpenAIRealtimeAdapter(IHttpClientFactory clients, IOptions<RealtimeOptions> options) : IRealtimeAdapter
{
    public const string ProviderName = "openai-realtime";
    public const string HttpClientName = "openai-realtime";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public string Provider => ProviderName;

    public bool IsAvailable => options.Value.Configured;

    public async ValueTask<RealtimeSecret> CreateClientSecretAsync(RealtimeSecretRequest request, CancellationToken cancellationToken)
    {
        var body = new
        {
            expires_after = new { anchor = "created_at", seconds = request.SecretSeconds },
            session = new
            {
                type = "realtime",
                model = request.Model,
                instructions = request.Instructions,
                audio = new
                {
                    input = new { turn_detection = TurnDetection(request.TurnDetection) },
                    output = new { voice = request.Voice },
                },
            },
        };

        using var message = new HttpRequestMessage(HttpMethod.Post, new Uri(options.Value.BaseUrl, "realtime/client_secrets"))
        {
            Content = JsonContent.Create(body, options: Json),
        };
        message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.Value.ApiKey);
        using var response = await clients.CreateClient(HttpClientName).SendAsync(message, cancellationToken);
        if (response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.UnprocessableEntity)
        {
            // Our request was refused as such (an unknown voice or model): retrying or failing over will not help.
            throw new PermanentFailureException(ProviderName, $"status {(int)response.StatusCode}");
        }

        response.EnsureSuccessStatusCode();
        var secret = await response.Content.ReadFromJsonAsync<ClientSecretResponse>(Json, cancellationToken);
        if (secret is not { Value.Length: > 0 } || secret.ExpiresAt <= 0)
        {
            throw new HttpRequestException("OpenAI answered the client secret request without value or expires_at.");
        }

        return new RealtimeSecret(secret.Value, DateTimeOffset.FromUnixTimeSeconds(secret.ExpiresAt), secret.Session?.Model ?? request.Model);
    }

    private static object TurnDetection(string type) => type == "server_vad"
        ? new { type, threshold = 0.5, prefix_padding_ms = 300, silence_duration_ms = 400, create_response = true, interrupt_response = true }
        : new { type, eagerness = "auto", create_response = true, interrupt_response = true };

    private sealed record ClientSecretResponse(
        [property: JsonPropertyName("value")] string Value,
        [property: JsonPropertyName("expires_at")] long ExpiresAt,
        [property: JsonPropertyName("session")] ClientSecretSession? Session);

    private sealed record ClientSecretSession([property: JsonPropertyName("model")] string? Model);
}
