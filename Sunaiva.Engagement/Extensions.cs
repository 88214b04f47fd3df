using Sunaiva.Engagement.Deliverability;
using Sunaiva.Engagement.Email;
using Sunaiva.Engagement.Email.Templates;
using Sunaiva.Engagement.Internal;
using Sunaiva.Engagement.Ops;
using Sunaiva.Engagement.Welcome;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using Sunaiva.Integration;
using Sunaiva.ServiceDefaults.Mail;
using Sunaiva.Messaging.Webhooks;

namespace Sunaiva.Engagement;

public static class Extensions
{
    public static IHostApplicationBuilder AddEngagementServices(this IHostApplicationBuilder builder)
    {
        builder.AddSunaivaBackbone(ResourceNames.EngagementDb, typeof(Extensions).Assembly);
        builder.AddSunaivaSmtp();
        builder.Services.AddOptions<InternalEventsOptions>().BindConfiguration(InternalEventsOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddExceptionHandler<Infrastructure.DatabaseUnavailableExceptionHandler>();
        builder.AddEmail();
        builder.AddOpsDashboard();
        return builder;
    }

    private static void AddEmail(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<EmailOptions>().BindConfiguration(EmailOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<WelcomeSeriesOptions>().BindConfiguration(WelcomeSeriesOptions.SectionName)
            .PostConfigure(o =>
            {
                if (o.Steps.Count == 0)
                {
                    o.Steps = [.. WelcomeSeriesOptions.Defaults];
                }
            })
            .ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<Experiments.ExperimentsOptions>()
            .Configure<IConfiguration>((o, configuration) => configuration.GetSection(Experiments.ExperimentsOptions.SectionName).Bind(o.Items))
            .PostConfigure(o =>
            {
                foreach (var (id, experiment) in o.Items)
                {
                    experiment.Id = id;
                }
            })
            .ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<Experiments.ExperimentService>();
        builder.Services.AddSingleton<EmailTemplateEngine>();
        builder.Services.AddSingleton<EmailTokens>();
        builder.Services.AddSingleton<SuppressionList>();
        builder.Services.AddOptions<DkimOptions>().BindConfiguration(DkimOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<DkimSigning>();
        builder.Services.AddSingleton<SmtpTransport.Pool>();
        var chain = builder.Services.AddProviderChain<IEmailTransport>(EmailDelivery.Capability).AddAdapter<SmtpTransport>();
        if (builder.Configuration.GetConnectionString(FallbackSmtpTransport.ConnectionName) is { Length: > 0 } fallback)
        {
            var connection = SmtpConnection.Parse(fallback);
            builder.Services.AddSingleton(sp => new FallbackSmtpTransport.Sender(connection, sp.GetRequiredService<TimeProvider>()));
            chain.AddAdapter<FallbackSmtpTransport>();
        }

        builder.Services.AddOptions<EmailWebhookOptions>().BindConfiguration(EmailWebhookOptions.SectionName);
        builder.Services.AddWebhookProvider<EmailEventsWebhook, EmailEventsProcessor>();
        builder.Services.AddSingleton<EmailDelivery>();
        builder.Services.AddSingleton<EmailOutbox>();
        builder.Services.AddWorkHandler<EmailSendWork>();
        builder.Services.AddWorkHandler<WelcomeStepWork>();
        builder.Services.AddEventHandler<WelcomeSeriesHandler>();
        builder.Services.AddEventHandler<ActivityHandler>();
        builder.Services.AddEventHandler<BillingMail.BillingMailHandler>();
        builder.AddReengagement();
        builder.AddInfluencerReports();
    }

    private static void AddReengagement(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<Segments.ReengagementOptions>().BindConfiguration(Segments.ReengagementOptions.SectionName)
            .PostConfigure(o =>
            {
                if (o.Campaigns.Count == 0)
                {
                    o.Campaigns = [.. Segments.ReengagementOptions.Defaults];
                }
            })
            .ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<Segments.SegmentStore>();
        builder.Services.AddEventHandler<Segments.SegmentEventsHandler>();
        builder.Services.AddWorkHandler<Segments.InactivityCheckWork>();
        builder.Services.AddWorkHandler<Segments.ReengagementSendWork>();
    }

    private static void AddInfluencerReports(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<Reports.ReportsOptions>().BindConfiguration(Reports.ReportsOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddEventHandler<Reports.InfluencerLedgerHandler>();
        builder.Services.AddWorkHandler<Reports.InfluencerReportWork>();
        builder.Services.AddWorkHandler<Reports.MonthlyReportsWork>();
        builder.Services.AddSingleton<Sunaiva.ServiceDefaults.Data.IStartupTask, Reports.MonthlyReportsSchedule>();
    }

    public static WebApplication MapEngagementApi(this WebApplication app)
    {
        app.MapInternalEventsApi();
        app.MapTestEmailApi();
        app.MapTemplatePreviewApi();
        app.MapEmailTrackingApi();
        app.MapEmailPreferencesApi();
        app.MapWebhookInbox();
        Experiments.ExperimentsApi.MapExperimentsApi(app);
        Segments.SegmentsApi.MapSegmentsApi(app);
        Reports.InfluencerReportsApi.MapInfluencerReportsApi(app);
        app.MapOpsDashboard();
        return app;
    }
}
