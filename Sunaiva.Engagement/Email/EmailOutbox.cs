using Dapper;
using Microsoft.Extensions.Options;
using MimeKit;
using Npgsql;
using Sunaiva.Engagement.Email.Templates;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Engagement.Email;

/// <summary>A message to render from a template and queue: once per (user, kind).</summary>
/// <param name="Kind">Unique per user ("welcome-1", "dunning:in_1:2"): a second request of the same kind queues nothing.</param>
/// <param name="Category">Preferences and suppression (<see cref="EmailCategories"/>); optional categories carry List-Unsubscribe and tracking.</param>
public sealed record EmailRequest(
    string UserId,
    string Kind,
    string Template,
    string Category,
    string Address,
    string? Name,
    string? Language,
    IReadOnlyDictionary<string, object?> Model,
    string? Variant = null,
    string? Experiment = null,
    string? ExperimentPhase = null,
    IReadOnlyList<InlineImage>? Images = null);

/// <summary>An image carried inside the message (multipart/related), shown by <c>&lt;img src="cid:{ContentId}"&gt;</c>.</summary>
public sealed record InlineImage(string ContentId, string FileName, string MediaType, byte[] Content);

/// <summary>
/// Queues an email in the caller's transaction: once per (user, kind), rendered once, with a Message-ID derived from
/// its row, and an <c>email.send</c> work item that sends it after the transaction commits.
/// </summary>
public sealed class EmailOutbox(WorkQueue work, TimeProvider time, EmailTemplateEngine templates, EmailTokens tokens, IOptions<EmailOptions> options)
{
    public const string KindHeader = "X-Sunaiva-Kind";

    /// <summary>Renders <paramref name="request"/>'s template for this message and queues it; true when queued now.</summary>
    public async Task<bool> QueueAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, EmailRequest request, CancellationToken cancellationToken)
    {
        if (!MailboxAddress.TryParse(request.Address, out var parsed) || parsed.Address.Contains('\n', StringComparison.Ordinal))
        {
            return false;
        }

        if (await ExistsAsync(connection, transaction, request.UserId, request.Kind, cancellationToken))
        {
            return false;
        }

        var id = NewId();
        var o = options.Value;
        var optional = EmailCategories.IsOptional(request.Category);
        var links = new MessageLinks(o, tokens, id, optional ? request.UserId : null, request.Category, track: optional && o.Tracking);
        var model = new Dictionary<string, object?>(request.Model, StringComparer.Ordinal)
        {
            ["user"] = new Dictionary<string, object?> { ["first_name"] = FirstName(request.Name), ["name"] = request.Name ?? string.Empty },
            ["links"] = AppLinks(o),
        };
        if (!model.ContainsKey("videos"))
        {
            model["videos"] = Array.Empty<object>();
        }

        var rendered = await templates.RenderAsync(request.Template, request.Language, model, links, cancellationToken);

        var message = new MimeMessage();
        message.From.Add(new MailboxAddress(o.FromName, o.FromAddress));
        message.To.Add(new MailboxAddress(EmailTemplateEngine.HeaderSafe(request.Name), parsed.Address));
        message.Subject = rendered.Subject;
        message.Headers.Add(KindHeader, request.Kind.Split(':')[0]);
        if (links.Unsubscribe is { } unsubscribe)
        {
            // RFC 8058 one-click: the mailbox provider POSTs "List-Unsubscribe=One-Click" to this URL.
            message.Headers.Add("List-Unsubscribe", $"<{unsubscribe}>");
            message.Headers.Add("List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
        }

        var body = new BodyBuilder { TextBody = rendered.Text, HtmlBody = rendered.Html };
        foreach (var image in request.Images ?? [])
        {
            var part = body.LinkedResources.Add(image.FileName, image.Content, ContentType.Parse(image.MediaType));
            part.ContentId = image.ContentId;
        }

        message.Body = body.ToMessageBody();
        return await InsertAsync(connection, transaction, id, request.UserId, request.Kind, message, new Extra(rendered.Template, rendered.Language, request.Category, request.Variant, request.Experiment, request.ExperimentPhase), cancellationToken);
    }

    /// <summary>Queues a message composed elsewhere (transactional, untracked) unless this user already has one of this kind.</summary>
    public Task<bool> QueueAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string userId, string kind, MimeMessage message, CancellationToken cancellationToken) =>
        InsertAsync(connection, transaction, NewId(), userId, kind, message, new Extra(null, null, EmailCategories.Transactional, null, null, null), cancellationToken);

    private async Task<bool> InsertAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string id, string userId, string kind, MimeMessage message, Extra extra, CancellationToken cancellationToken)
    {
        message.MessageId = $"{id}@sunaiva.local";
        using var mime = new MemoryStream();
        await message.WriteToAsync(mime, cancellationToken);
        var recorded = await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO sent_emails (id, user_id, kind, recipient, subject, status, mime, queued_at, template, language, category, variant, experiment, experiment_phase)
            VALUES (@id, @userId, @kind, @recipient, @subject, 'queued', @mime, @at, @template, @language, @category, @variant, @experiment, @phase)
            ON CONFLICT (user_id, kind) DO NOTHING
            """,
            new
            {
                id,
                userId,
                kind,
                recipient = message.To.Mailboxes.First().Address.ToLowerInvariant(),
                subject = message.Subject,
                mime = System.Text.Encoding.UTF8.GetString(mime.ToArray()),
                at = time.GetUtcNow(),
                template = extra.Template,
                language = extra.Language,
                category = extra.Category,
                variant = extra.Variant,
                experiment = extra.Experiment,
                phase = extra.Phase,
            },
            transaction,
            cancellationToken: cancellationToken));
        if (recorded == 0)
        {
            return false;
        }

        await work.EnqueueAsync(connection, transaction, new NewWork(EmailSendWork.WorkKind, $"email:{id}", id), cancellationToken);
        return true;
    }

    /// <summary>Whether this user already has a message of this kind (queued, sent or skipped).</summary>
    public static Task<bool> ExistsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string userId, string kind, CancellationToken cancellationToken) =>
        connection.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM sent_emails WHERE user_id = @userId AND kind = @kind)", new { userId, kind }, transaction, cancellationToken: cancellationToken));

    public static string FirstName(string? name) =>
        string.IsNullOrWhiteSpace(name) ? "friend" : EmailTemplateEngine.HeaderSafe(name).Split(' ', StringSplitOptions.RemoveEmptyEntries) is [var first, ..] ? first : "friend";

    private static string NewId() => $"mail_{Guid.CreateVersion7():N}";

    private static Dictionary<string, object?> AppLinks(EmailOptions o)
    {
        var app = o.AppBaseUrl.TrimEnd('/');
        return new Dictionary<string, object?>
        {
            ["app"] = app + "/",
            ["voice"] = app + "/voice",
            ["upload"] = app + "/vault/upload",
            ["subscribe"] = app + "/plans",
        };
    }

    private sealed record Extra(string? Template, string? Language, string Category, string? Variant, string? Experiment, string? Phase);
}
