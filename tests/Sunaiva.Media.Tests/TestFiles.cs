using System.Buffers.Binary;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using DocumentFormat.OpenXml.Packaging;
using DocumentFormat.OpenXml.Wordprocessing;
using UglyToad.PdfPig.Content;
using UglyToad.PdfPig.Core;
using UglyToad.PdfPig.Fonts.Standard14Fonts;
using Sunaiva.ServiceDefaults.Storage;
using UglyToad.PdfPig.Writer;

namespace Sunaiva.Media.Tests;

/// <summary>Real files of each accepted type, made in memory, and the upload helpers.</summary>
public static class TestFiles
{
    public static byte[] Png(int width = 4, int height = 3, int padding = 0)
    {
        var bytes = new byte[33 + padding];
        new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }.CopyTo(bytes, 0);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(8), 13);
        "IHDR"u8.CopyTo(bytes.AsSpan(12));
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(16), (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(20), (uint)height);
        bytes[24] = 8;
        bytes[25] = 6;
        Random.Shared.NextBytes(bytes.AsSpan(33));
        return bytes;
    }

    public static byte[] Pdf(params string[] lines)
    {
        var builder = new PdfDocumentBuilder();
        var font = builder.AddStandard14Font(Standard14Font.Helvetica);
        var page = builder.AddPage(UglyToad.PdfPig.Content.PageSize.A4);
        var y = 780.0;
        foreach (var line in lines)
        {
            page.AddText(line, 12, new PdfPoint(40, y), font);
            y -= 20;
        }

        return builder.Build();
    }

    public static byte[] Docx(string heading, string body)
    {
        using var stream = new MemoryStream();
        using (var document = WordprocessingDocument.Create(stream, DocumentFormat.OpenXml.WordprocessingDocumentType.Document))
        {
            var main = document.AddMainDocumentPart();
            main.Document = new Document(new Body(
                new Paragraph(new ParagraphProperties(new ParagraphStyleId { Val = "Heading1" }), new Run(new Text(heading))),
                new Paragraph(new Run(new Text(body)))));
        }

        return stream.ToArray();
    }

    public static byte[] Mp3() => [.. "ID3"u8, 4, 0, 0, 0, 0, 0, 0, 0xFF, 0xFB, 0x90, 0x64, .. new byte[64]];

    public static byte[] Text(string text) => Encoding.UTF8.GetBytes(text);

    public static async Task<HttpResponseMessage> UploadAsync(HttpClient client, byte[] bytes, string? contentType, string name, string? idempotencyKey = null)
    {
        using var form = new MultipartFormDataContent();
        var part = new ByteArrayContent(bytes);
        if (contentType is not null)
        {
            part.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        }

        form.Add(part, "file", name);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/files") { Content = form };
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        return await client.SendAsync(request);
    }

    /// <summary>The keys of a user's objects in the files bucket, every listing page (the service's own paging).</summary>
    public static async Task<List<string>> StoredObjectsAsync(Amazon.S3.IAmazonS3 s3, string userId)
    {
        var keys = new List<string>();
        await foreach (var page in s3.ListPagesAsync(Extensions.FilesBucket, Files.FileVault.ObjectKey(userId, string.Empty)))
        {
            keys.AddRange(page.Select(o => o.Key));
        }

        return keys;
    }

    public static async Task<string> UploadedIdAsync(HttpClient client, byte[] bytes, string? contentType, string name)
    {
        var response = await UploadAsync(client, bytes, contentType, name);
        Assert.True(response.IsSuccessStatusCode, $"upload of {name}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }
}
